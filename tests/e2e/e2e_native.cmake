# End-to-end test of the native backend on a real Nomad dev agent (see
# e2e_tests.cmake for how the agent is built and when these are registered):
# the examples/jobs/native-*.nomad.hcl jobs and generated ones, with the
# fixture library published as a Nomad Variable, plus bad signatures and
# symbols refused with the field named.
include(${CMAKE_CURRENT_LIST_DIR}/../fixtures/native/native_fixtures.cmake)
if(ELIDE_E2E)
  add_test(NAME e2e.native_jobs
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_native.py
            $<TARGET_FILE:nomad-driver-elide> $<TARGET_FILE:native_fixture_mathlib>)
  set_tests_properties(e2e.native_jobs PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()
