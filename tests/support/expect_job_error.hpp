// expect_job_error: runs a call that must fail with a JobError and returns that error, so a test
// can check its kind and message; records a test failure if the call succeeds.
#pragma once

#include <gtest/gtest.h>

#include "warmpool/job_error.hpp"

namespace warmpool::testing {

template <class F>
JobError expect_job_error(F&& f) {
    try {
        f();
    } catch (const JobError& e) {
        return e;
    }
    ADD_FAILURE() << "expected a JobError";
    return JobError(ErrorKind::bad_request, "none");
}

}  // namespace warmpool::testing
