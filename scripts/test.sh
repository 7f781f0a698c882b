#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite; exits with ctest's status.
# WARMPOOL_BUILD_DIR overrides the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${WARMPOOL_BUILD_DIR:-build}
bash scripts/install-deps.sh
bash scripts/build.sh "$build_dir"

echo
echo "==================== warmpool test suite (ctest --test-dir $build_dir) ===================="
status=0
ctest --test-dir "$build_dir" --output-on-failure -j2 || status=$?
echo "==================== ctest exit status: $status ===================="

# The tests that feed the pool hostile input, the workers hosting Python, the payload paths, and
# the supervisor's and worker's units run again on a build with AddressSanitizer and UBSan, so
# that build keeps building and the code stays clean. (The fuzz targets, fuzz_short above, are
# built with the sanitizers too.)
asan_dir=${WARMPOOL_ASAN_BUILD_DIR:-build-asan}
asan_tests=(hostile_isolation_test hostile_text_test hostile_peers_test bad_input_test
            protocol_test byte_ring_test utf8_test job_queue_test outbox_test python_jobs_test
            job_checks_test job_runner_test dispatcher_test session_table_test lanes_test
            connection_table_test worker_slots_test status_report_test reload_test
            job_intake_test job_stopper_test pool_endpoints_test worker_lives_test metrics_http_test
            metrics_test payload_test priority_aging_test scaling_policy_test latency_histogram_test
            timings_recorder_test service_notifier_test map_progress_test top_view_test
            worker_image_test latency_test priority_test scaling_test notify_test zygote_test
            job_entry_test gateway_policy_test heartbeat_status_test gateway_results_test
            gateway_recovery_test gateway_faults_test redis_endpoint_test redis_scripts_test
            redis_job_entry_test redis_cluster_client_test cluster_report_test cluster_view_test
            redis_recovery_test redis_reconcile_test metrics_text_test)
echo
echo "==================== sanitizer build (ASan + UBSan, $asan_dir): ${asan_tests[*]} ===================="
WARMPOOL_SANITIZE=1 bash scripts/build.sh "$asan_dir" warmpoold warmpool warmpool-gateway warmpool_example_jobs "${asan_tests[@]}"
asan_status=0
pattern="^($(IFS='|'; echo "${asan_tests[*]}"))\$"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    ctest --test-dir "$asan_dir" --output-on-failure -j2 -R "$pattern" || asan_status=$?
echo "==================== sanitizer ctest exit status: $asan_status ===================="
((status != 0)) || status=$asan_status
exit "$status"
