#include "cluster_commands.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cluster_view.hpp"
#include "warmpool/cluster_status.hpp"
#include "warmpool/job_error.hpp"
#include "warmpool/redis/redis_endpoint.hpp"

namespace warmpool {

namespace {

constexpr int kStatusTimeoutMs = 5000;

nlohmann::json read_report(const ClusterTarget& target) {
    return nlohmann::json::parse(cluster_status(target.endpoint, target.password_file, kStatusTimeoutMs));
}

}  // namespace

std::string cluster_endpoint(const std::string& endpoint, const std::string& pool) {
    if (!endpoint.empty()) return endpoint;
    return is_redis_endpoint(pool) ? pool : std::string();
}

int print_cluster_status(const ClusterTarget& target, ClusterOutput output) {
    if (output == ClusterOutput::json) {
        std::puts(cluster_status(target.endpoint, target.password_file, kStatusTimeoutMs).c_str());
        return 0;
    }
    const nlohmann::json report = read_report(target);
    const std::string text = output == ClusterOutput::text ? render_cluster_status(report)
                             : cluster_metrics(report, output == ClusterOutput::openmetrics
                                                           ? metrics_http::Format::openmetrics
                                                           : metrics_http::Format::prometheus);
    std::fputs(text.c_str(), stdout);
    return 0;
}

int run_cluster_top(const ClusterTarget& target, const TopOptions& options) {
    TopSource source;
    source.what = "cluster";
    source.fetch = [&target](std::string& error) -> std::optional<std::string> {
        try {
            return cluster_status(target.endpoint, target.password_file, kStatusTimeoutMs);
        } catch (const ConnectError& e) {
            error = e.what();
            return std::nullopt;
        }
    };
    source.render = [](const nlohmann::json& report, unsigned width) { return render_cluster_top(report, width); };
    return run_top(options, source);
}

int serve_cluster_metrics(const ClusterTarget& target, MetricsServerOptions options) {
    options.pool = target.endpoint;
    options.scrape = [target](metrics_http::Format format) -> Result<std::string> {
        try {
            return cluster_metrics(read_report(target), format);
        } catch (const ConnectError& e) {
            return make_error(SysError::Code::io, e.what());
        }
    };
    return serve_metrics(options);
}

}  // namespace warmpool
