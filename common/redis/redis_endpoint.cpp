#include "warmpool/redis/redis_endpoint.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

namespace {

SysError invalid(const std::string& why) { return make_error(SysError::Code::invalid, why); }

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

bool valid_user(std::string_view user) {
    if (user.empty() || user.size() > 128) return false;
    for (char c : user) {
        if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == ':' || c == '@' || c == 0x7f) return false;
    }
    return true;
}

Result<std::string> read_password_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return errno_error("cannot read the Redis password file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    std::string password = text.str();
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
    if (password.empty()) return invalid("the Redis password file " + path + " is empty");
    return password;
}

}  // namespace

std::string RedisEndpoint::text() const {
    return std::string(kRedisScheme) + (user.empty() ? "" : user + "@") + host + ":" + std::to_string(port) + "/" +
           cluster;
}

bool is_redis_endpoint(std::string_view text) { return text.starts_with(kRedisScheme); }

Result<RedisEndpoint> parse_redis_endpoint(std::string_view text) {
    if (!is_redis_endpoint(text)) return invalid("a Redis endpoint starts with redis://");
    std::string_view rest = text.substr(kRedisScheme.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return invalid("the endpoint names no cluster: redis://HOST:PORT/CLUSTER");
    std::string_view authority = rest.substr(0, slash);
    const std::string_view cluster = rest.substr(slash + 1);

    RedisEndpoint endpoint;
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view user = authority.substr(0, at);
        if (user.find(':') != std::string_view::npos) {
            return invalid("a password does not go in the endpoint (it would show in process listings): use "
                           "WARMPOOL_REDIS_PASSWORD_FILE, WARMPOOL_REDIS_PASSWORD or --redis-password-file");
        }
        if (!valid_user(user)) return invalid("bad Redis user name in the endpoint");
        endpoint.user = std::string(user);
        authority = authority.substr(at + 1);
    }
    std::string_view host = authority;
    if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        const std::string_view port_text = authority.substr(colon + 1);
        int port = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
            return invalid("bad port '" + std::string(port_text) + "' in the endpoint");
        }
        endpoint.port = port;
    }
    if (!valid_host(host)) return invalid("bad host '" + std::string(host) + "' in the endpoint");
    endpoint.host = std::string(host);
    if (!valid_pool_name(cluster)) {
        return invalid("bad cluster name '" + std::string(cluster) + "' in the endpoint (a pool name: 1 to 64 of A-Z a-z 0-9 _ -)");
    }
    endpoint.cluster = std::string(cluster);
    return endpoint;
}

Result<RedisCredentials> resolve_redis_credentials(const RedisEndpoint& endpoint, const std::string& password_file) {
    RedisCredentials credentials;
    credentials.user = endpoint.user;
    if (credentials.user.empty()) {
        if (const char* user = std::getenv("WARMPOOL_REDIS_USER"); user != nullptr && *user != '\0') {
            if (!valid_user(user)) return invalid("bad Redis user name in WARMPOOL_REDIS_USER");
            credentials.user = user;
        }
    }
    std::string file = password_file;
    if (file.empty()) {
        if (const char* env = std::getenv("WARMPOOL_REDIS_PASSWORD_FILE"); env != nullptr) file = env;
    }
    if (!file.empty()) {
        auto password = read_password_file(file);
        if (!password) return password.error();
        credentials.password = std::move(password.value());
    } else if (const char* password = std::getenv("WARMPOOL_REDIS_PASSWORD"); password != nullptr) {
        credentials.password = password;
    }
    if (!credentials.user.empty() && credentials.password.empty()) {
        return invalid("Redis user '" + credentials.user + "' needs a password (WARMPOOL_REDIS_PASSWORD_FILE, "
                       "WARMPOOL_REDIS_PASSWORD or --redis-password-file)");
    }
    return credentials;
}

}  // namespace warmpool
