#include "metrics_http.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <vector>

namespace warmpool::metrics_http {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// RFC 9110's token characters: what a method and a header name are made of.
bool is_token(std::string_view s) {
    static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || kSymbols.find(c) != std::string_view::npos;
    });
}

bool is_visible(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c != '\x7f'; });
}

std::vector<std::string_view> split(std::string_view s, char by) {
    std::vector<std::string_view> parts;
    for (;;) {
        const std::size_t at = s.find(by);
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 1);
    }
}

ParsedHead refused(ParsedHead::Status status) {
    ParsedHead head;
    head.status = status;
    return head;
}

bool parse_request_line(std::string_view line, Request& request) {
    const std::vector<std::string_view> parts = split(line, ' ');
    if (parts.size() != 3 || !is_token(parts[0])) return false;
    const std::string_view target = parts[1];
    if (target.empty() || target.front() != '/' || !is_visible(target)) return false;
    if (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") return false;
    request.method = std::string(parts[0]);
    request.path = std::string(target.substr(0, target.find_first_of("?#")));
    return true;
}

// The quality of one media range ("type/subtype;param=value;q=0.5") for `format`, or -1 if it
// does not name it.
double quality_for(std::string_view range, Format format) {
    const std::vector<std::string_view> parts = split(range, ';');
    const std::string media = lower(trim(parts[0]));
    double q = 1;
    std::optional<std::string> version;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const std::string_view param = trim(parts[i]);
        const std::size_t eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string key = lower(trim(param.substr(0, eq)));
        std::string_view value = trim(param.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (key == "q") {
            const std::string text(value);
            char* end = nullptr;
            q = std::strtod(text.c_str(), &end);
            if (end == text.c_str() || *end != '\0' || !(q >= 0 && q <= 1)) q = 0;
        } else if (key == "version") {
            version = std::string(value);
        }
    }
    if (format == Format::openmetrics) {
        if (media != "application/openmetrics-text") return -1;
        return !version || *version == "1.0.0" ? q : -1;
    }
    if (media == "*/*" || media == "text/*") return q;
    if (media != "text/plain") return -1;
    return !version || *version == "0.0.4" ? q : -1;
}

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 431: return "Request Header Fields Too Large";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

Response plain(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace

ParsedHead parse_request_head(std::string_view received, std::size_t max_bytes) {
    std::vector<std::string_view> lines;
    std::size_t pos = 0;
    std::size_t head_end = std::string_view::npos;
    for (std::size_t nl; (nl = received.find('\n', pos)) != std::string_view::npos;) {
        std::string_view line = received.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl + 1;
        if (pos > max_bytes) return refused(ParsedHead::Status::too_large);
        if (!line.empty()) {
            lines.push_back(line);
        } else if (!lines.empty()) {
            head_end = pos;
            break;
        }
    }
    if (head_end == std::string_view::npos) {
        return refused(received.size() > max_bytes ? ParsedHead::Status::too_large : ParsedHead::Status::incomplete);
    }

    ParsedHead head;
    head.status = ParsedHead::Status::complete;
    if (!parse_request_line(lines[0], head.request)) return refused(ParsedHead::Status::malformed);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        const std::size_t colon = line.find(':');
        // A line folded onto the one before (leading white space) is refused, as RFC 9112 allows.
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
            return refused(ParsedHead::Status::malformed);
        }
        if (lower(line.substr(0, colon)) == "accept") {
            if (!head.request.accept.empty()) head.request.accept += ",";
            head.request.accept += trim(line.substr(colon + 1));
        }
    }
    return head;
}

Format negotiate_format(std::string_view accept) {
    double openmetrics = -1, prometheus = -1;
    for (std::string_view range : split(accept, ',')) {
        if (trim(range).empty()) continue;
        openmetrics = std::max(openmetrics, quality_for(range, Format::openmetrics));
        prometheus = std::max(prometheus, quality_for(range, Format::prometheus));
    }
    return openmetrics > 0 && openmetrics > prometheus ? Format::openmetrics : Format::prometheus;
}

std::string_view content_type(Format format) {
    return format == Format::openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                         : "text/plain; version=0.0.4; charset=utf-8";
}

Response answer(const ParsedHead& head, const Scrape& scrape) {
    switch (head.status) {
        case ParsedHead::Status::complete: break;
        case ParsedHead::Status::too_large: return plain(431, "request head too large\n");
        case ParsedHead::Status::incomplete:
        case ParsedHead::Status::malformed: return plain(400, "bad request\n");
    }
    const Request& request = head.request;
    if (request.path != "/metrics") return plain(404, "not found; metrics are at /metrics\n");
    if (request.method != "GET" && request.method != "HEAD") return plain(405, "only GET and HEAD\n");

    const Format format = negotiate_format(request.accept);
    Result<std::string> text = scrape(format);
    Response r;
    if (!text) {
        r = plain(503, "cannot read the pool's metrics: " + text.error().message() + "\n");
    } else if (text.value().empty()) {
        r = plain(503, "the pool closed its status socket without an answer (is it stopping?)\n");
    } else if (text.value().front() == '{') {
        // A JSON answer is the status socket's error: a daemon that does not know the request.
        r = plain(502, "the pool answered with an error: " + text.value());
    } else {
        r.content_type = std::string(content_type(format));
        r.body = std::move(text.value());
    }
    r.head_only = request.method == "HEAD";
    return r;
}

std::string serialize(const Response& response) {
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) + "\r\n";
    out += "Content-Type: " + response.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    if (response.status == 405) out += "Allow: GET, HEAD\r\n";
    out += "Connection: close\r\n\r\n";
    if (!response.head_only) out += response.body;
    return out;
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view host = text.substr(0, colon);
    const std::string_view port = text.substr(colon + 1);
    ListenAddress address;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        address.ipv6 = true;
    }
    address.host = std::string(host);
    unsigned char bytes[16];
    if (inet_pton(address.ipv6 ? AF_INET6 : AF_INET, address.host.c_str(), bytes) != 1) return std::nullopt;
    unsigned value = 0;
    const auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || err != std::errc() || end != port.data() + port.size() || value > 65535) return std::nullopt;
    address.port = static_cast<std::uint16_t>(value);
    return address;
}

}  // namespace warmpool::metrics_http
