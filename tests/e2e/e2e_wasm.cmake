# End-to-end test of the wasm backend on a real Nomad dev agent (see
# e2e_tests.cmake for how the agent is built and when these are registered):
# the examples/jobs/wasm-*.nomad.hcl jobs on node's WASI and on wazero
# (tests/unit/install-wazero.sh), each chosen by an INI deployment file, the
# .wasm fixtures (built by tests/unit/wasm_tests.cmake) served from
# 127.0.0.1 to the jobs' artifact blocks, and inline code refused.
if(ELIDE_E2E)
  add_test(NAME e2e.wasm_jobs
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_wasm.py
            $<TARGET_FILE:nomad-driver-elide> ${CMAKE_BINARY_DIR}/tests/fixtures/wasm
            ${CMAKE_CURRENT_LIST_DIR}/../unit/install-wazero.sh)
  set_tests_properties(e2e.wasm_jobs PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
