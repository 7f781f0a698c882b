#include "warmpool/common/sys_result.hpp"

#include <cstring>

namespace warmpool {

std::string SysError::message() const {
    std::string text = context;
    if (errno_value != 0) {
        text += ": ";
        text += std::strerror(errno_value);
    }
    return text;
}

SysError errno_error(std::string context, int err) {
    SysError::Code code = SysError::Code::io;
    switch (err) {
        case EACCES:
        case EPERM: code = SysError::Code::permission; break;
        case ENOENT: code = SysError::Code::not_found; break;
        case EEXIST: code = SysError::Code::exists; break;
        case EINVAL: code = SysError::Code::invalid; break;
        case ENOMEM:
        case ENOSPC:
        case EMFILE:
        case ENFILE: code = SysError::Code::resource; break;
        default: break;
    }
    return SysError{code, err, std::move(context)};
}

SysError make_error(SysError::Code code, std::string context) {
    return SysError{code, 0, std::move(context)};
}

}  // namespace warmpool
