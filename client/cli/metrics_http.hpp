// MetricsHttp: what `warmpool metrics` says over HTTP, as pure functions of the bytes received,
// so that every rule is unit-tested without a socket (tests/unit/metrics_http_test.cc).
//
// Owns nothing. Called by the metrics server (metrics_server.hpp) for each connection: it reads
// until parse_request_head() says the head is complete (or refused), answers with answer(), and
// sends serialize() of the response. The one route is GET (or HEAD) /metrics; the format follows
// the Accept header, as Prometheus negotiates it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "warmpool/common/sys_result.hpp"

namespace warmpool::metrics_http {

// A request head (request line and headers) larger than this is refused (431).
inline constexpr std::size_t kMaxRequestHeadBytes = 8192;

struct Request {
    std::string method;
    std::string path;    // the target without its query
    std::string accept;  // every Accept header, joined by ","
};

struct ParsedHead {
    enum class Status {
        incomplete,  // no empty line yet: read more
        complete,
        malformed,  // answer 400
        too_large,  // answer 431
    };
    Status status = Status::incomplete;
    Request request;  // when complete
};

// Parses the bytes received so far. Lines may end in CRLF or LF; empty lines before the request
// line are skipped; anything after the head (a body) is ignored.
ParsedHead parse_request_head(std::string_view received, std::size_t max_bytes = kMaxRequestHeadBytes);

enum class Format {
    prometheus,   // text/plain; version=0.0.4
    openmetrics,  // application/openmetrics-text; version=1.0.0
};

// OpenMetrics when the Accept header ranks it (version 1.0.0 or none) above the Prometheus text
// format; else the Prometheus text format, the answer to no Accept header and to "*/*".
Format negotiate_format(std::string_view accept);

std::string_view content_type(Format format);

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    bool head_only = false;  // a HEAD request: Content-Length of the body, but no body
};

// Reads the pool's metrics in `format`: the status socket's answer, or why it could not be read.
using Scrape = std::function<Result<std::string>(Format format)>;

// The answer to a head that is not incomplete: 200 with the metrics; 503 if the pool cannot be
// read (Prometheus then records the target down); 404 for another path; 405 for another method;
// 400 or 431 for a head refused.
Response answer(const ParsedHead& head, const Scrape& scrape);

// The response as sent: HTTP/1.1, Content-Type, Content-Length, Connection: close (and Allow
// with a 405).
std::string serialize(const Response& response);

struct ListenAddress {
    std::string host;  // a numeric IPv4 or IPv6 address
    bool ipv6 = false;
    std::uint16_t port = 0;
};

// "IPV4:PORT" or "[IPV6]:PORT", numeric only (a name could resolve to more than one address, and
// the server binds only where it is told); port 0 lets the system choose.
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace warmpool::metrics_http
