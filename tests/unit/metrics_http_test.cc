// Tests for the HTTP side of `warmpool metrics` (metrics_http.hpp): request heads whole, partial,
// malformed and oversized; content negotiation as Prometheus and other clients ask; the answer
// to each route, with the scrape's result; the bytes of a response; listen addresses.
#include "metrics_http.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warmpool::metrics_http {
namespace {

using Status = ParsedHead::Status;

TEST(MetricsHttp, ParsesAWholeHead) {
    const ParsedHead head = parse_request_head(
        "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept: text/plain\r\naccept:  */* \r\n\r\n");
    ASSERT_EQ(head.status, Status::complete);
    EXPECT_EQ(head.request.method, "GET");
    EXPECT_EQ(head.request.path, "/metrics");
    EXPECT_EQ(head.request.accept, "text/plain,*/*");
}

TEST(MetricsHttp, BareLineFeedsAndLeadingEmptyLinesAndABodyAreAccepted) {
    const ParsedHead head = parse_request_head("\r\n\nHEAD /metrics HTTP/1.0\nUser-Agent: x\n\nbody bytes");
    ASSERT_EQ(head.status, Status::complete);
    EXPECT_EQ(head.request.method, "HEAD");
    EXPECT_EQ(head.request.accept, "");
}

TEST(MetricsHttp, AHeadInPiecesIsIncompleteUntilItsEmptyLine) {
    const std::string whole = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
    for (std::size_t n = 0; n < whole.size(); ++n) {
        EXPECT_EQ(parse_request_head(whole.substr(0, n)).status, Status::incomplete) << n;
    }
    EXPECT_EQ(parse_request_head(whole).status, Status::complete);
}

TEST(MetricsHttp, MalformedHeadsAreRefused) {
    const std::vector<std::string> heads = {
        "GET\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n",
        "GET /met\x01rics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: h\r\n folded: line\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    };
    for (const std::string& text : heads) EXPECT_EQ(parse_request_head(text).status, Status::malformed) << text;
}

TEST(MetricsHttp, AHeadLargerThanTheBoundIsTooLarge) {
    const std::string start = "GET /metrics HTTP/1.1\r\nX-Filler: ";
    std::string endless = start + std::string(kMaxRequestHeadBytes, 'a');
    EXPECT_EQ(parse_request_head(endless).status, Status::too_large);
    EXPECT_EQ(parse_request_head(endless + "\r\n\r\n").status, Status::too_large);
    std::string no_newline(kMaxRequestHeadBytes + 1, 'G');
    EXPECT_EQ(parse_request_head(no_newline).status, Status::too_large);
    EXPECT_EQ(parse_request_head(no_newline.substr(0, kMaxRequestHeadBytes)).status, Status::incomplete);
    // Exactly at the bound is allowed.
    std::string fits = start;
    fits += std::string(kMaxRequestHeadBytes - start.size() - 4, 'a') + "\r\n\r\n";
    ASSERT_EQ(fits.size(), kMaxRequestHeadBytes);
    EXPECT_EQ(parse_request_head(fits).status, Status::complete);
    EXPECT_EQ(parse_request_head("GET /metrics HTTP/1.1\r\n\r\n", 10).status, Status::too_large);
}

TEST(MetricsHttp, NegotiatesAsPrometheusAndOtherClientsAsk) {
    // Prometheus 2.x and 3.x.
    EXPECT_EQ(negotiate_format("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              Format::openmetrics);
    EXPECT_EQ(negotiate_format("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                               "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
                               "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
              Format::openmetrics);
    EXPECT_EQ(negotiate_format("Application/OpenMetrics-Text; Version=\"1.0.0\""), Format::openmetrics);
    EXPECT_EQ(negotiate_format("application/openmetrics-text"), Format::openmetrics);
    // Older Prometheus, curl, browsers, nothing.
    EXPECT_EQ(negotiate_format("application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              Format::prometheus);
    EXPECT_EQ(negotiate_format("text/plain;version=0.0.4;q=1,*/*;q=0.1"), Format::prometheus);
    EXPECT_EQ(negotiate_format("*/*"), Format::prometheus);
    EXPECT_EQ(negotiate_format("text/html,application/xhtml+xml,*/*;q=0.8"), Format::prometheus);
    EXPECT_EQ(negotiate_format(""), Format::prometheus);
    // A tie goes to the Prometheus text format; q=0 means "not this"; a bad q counts as 0.
    EXPECT_EQ(negotiate_format("application/openmetrics-text,text/plain"), Format::prometheus);
    EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0,text/plain;q=0.1"), Format::prometheus);
    EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"), Format::prometheus);
    EXPECT_EQ(negotiate_format("application/openmetrics-text;q=high"), Format::prometheus);
    EXPECT_EQ(negotiate_format("text/plain;q=0.2,application/openmetrics-text;q=0.3"), Format::openmetrics);
}

ParsedHead head_of(const std::string& method, const std::string& path, const std::string& accept = "") {
    return parse_request_head(method + " " + path + " HTTP/1.1\r\n" + (accept.empty() ? "" : "Accept: " + accept + "\r\n") +
                              "\r\n");
}

// A scrape that records what it was asked and answers `text` (or fails when `text` is null).
struct FakeScrape {
    const char* text;
    std::vector<Format> asked;
    Scrape function() {
        return [this](Format format) -> Result<std::string> {
            asked.push_back(format);
            if (text == nullptr) return make_error(SysError::Code::not_found, "connect /run/p.status");
            return std::string(text);
        };
    }
};

TEST(MetricsHttp, GetMetricsAnswersTheScrapeInTheNegotiatedFormat) {
    FakeScrape scrape{"# HELP a b\nwarmpool_up{pool=\"p\"} 1\n", {}};
    Response r = answer(head_of("GET", "/metrics"), scrape.function());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(r.body, scrape.text);
    r = answer(head_of("GET", "/metrics", "application/openmetrics-text;version=1.0.0"), scrape.function());
    EXPECT_EQ(r.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    EXPECT_EQ(scrape.asked, (std::vector<Format>{Format::prometheus, Format::openmetrics}));
    r = answer(head_of("HEAD", "/metrics"), scrape.function());
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.head_only);
}

TEST(MetricsHttp, AnUnreachablePoolIs503AndAnErrorFromItIs502) {
    FakeScrape unreachable{nullptr, {}};
    Response r = answer(head_of("GET", "/metrics"), unreachable.function());
    EXPECT_EQ(r.status, 503);
    EXPECT_NE(r.body.find("connect /run/p.status"), std::string::npos) << r.body;
    FakeScrape empty{"", {}};
    EXPECT_EQ(answer(head_of("GET", "/metrics"), empty.function()).status, 503);
    FakeScrape error{"{\"error\":\"unknown request\"}\n", {}};
    EXPECT_EQ(answer(head_of("GET", "/metrics"), error.function()).status, 502);
}

TEST(MetricsHttp, OtherPathsMethodsAndBadHeadsNeverScrape) {
    FakeScrape scrape{"x 1\n", {}};
    EXPECT_EQ(answer(head_of("GET", "/"), scrape.function()).status, 404);
    EXPECT_EQ(answer(head_of("GET", "/metrics/"), scrape.function()).status, 404);
    EXPECT_EQ(answer(head_of("GET", "/Metrics"), scrape.function()).status, 404);
    EXPECT_EQ(answer(head_of("POST", "/metrics"), scrape.function()).status, 405);
    EXPECT_EQ(answer(head_of("DELETE", "/metrics"), scrape.function()).status, 405);
    EXPECT_EQ(answer(parse_request_head("GET /metrics\r\n\r\n"), scrape.function()).status, 400);
    EXPECT_EQ(answer(parse_request_head(std::string(kMaxRequestHeadBytes + 1, 'x')), scrape.function()).status, 431);
    EXPECT_TRUE(scrape.asked.empty());
}

TEST(MetricsHttp, SerializedResponses) {
    Response ok;
    ok.content_type = "text/plain; version=0.0.4; charset=utf-8";
    ok.body = "a 1\n";
    EXPECT_EQ(serialize(ok),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\n"
              "Connection: close\r\n\r\na 1\n");
    ok.head_only = true;
    EXPECT_EQ(serialize(ok).find("a 1\n"), std::string::npos);
    EXPECT_NE(serialize(ok).find("Content-Length: 4\r\n"), std::string::npos);
    Response not_allowed;
    not_allowed.status = 405;
    not_allowed.body = "only GET and HEAD\n";
    const std::string text = serialize(not_allowed);
    EXPECT_EQ(text.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << text;
    EXPECT_NE(text.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
    Response unavailable;
    unavailable.status = 503;
    EXPECT_EQ(serialize(unavailable).rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
}

TEST(MetricsHttp, ListenAddresses) {
    auto v4 = parse_listen_address("127.0.0.1:9464");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_FALSE(v4->ipv6);
    EXPECT_EQ(v4->port, 9464);
    auto v6 = parse_listen_address("[::1]:0");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_TRUE(v6->ipv6);
    EXPECT_EQ(v6->port, 0);
    EXPECT_TRUE(parse_listen_address("0.0.0.0:65535"));
    for (const char* bad : {"", "9464", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                            "127.0.0.1:+80", "127.0.0.1:80x", "localhost:9464", "::1:9464", "[::1]", "[127.0.0.1]:80",
                            "256.0.0.1:80", " 127.0.0.1:80"}) {
        EXPECT_FALSE(parse_listen_address(bad)) << bad;
    }
}

}  // namespace
}  // namespace warmpool::metrics_http
