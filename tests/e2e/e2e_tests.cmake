# End-to-end tests on a real Nomad dev agent (built by tests/e2e/build-nomad.sh
# from the pinned Nomad Go module and cached). They fail, never skip, when
# Nomad cannot be built. Disable with -DELIDE_E2E=OFF (the sanitizer build
# does: real-agent tests run on the normal build).
if(ELIDE_E2E)
  add_test(NAME e2e.python_jobs
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_e2e_python.py
            $<TARGET_FILE:nomad-driver-elide>)
  set_tests_properties(e2e.python_jobs PROPERTIES TIMEOUT 1800 LABELS e2e RUN_SERIAL TRUE)
endif()

# One real-agent suite per backend (each starts its own dev agent).
foreach(backend js wasm native vendor daemon lifecycle limits exec)
  if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/e2e_${backend}.cmake")
    include("${CMAKE_CURRENT_LIST_DIR}/e2e_${backend}.cmake")
  endif()
endforeach()
