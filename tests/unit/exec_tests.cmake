# Unit tests of local execution (host/exec): real processes, FIFOs and
# monitors. They find the built monitor through ELIDE_TEST_MONITOR; under
# ELIDE_SANITIZE, ELIDE_TEST_ASAN disables the monitor memory bounds.
add_library(exec_test_util STATIC ${CMAKE_CURRENT_LIST_DIR}/test_exec_util.c)
target_link_libraries(exec_test_util PUBLIC elide_exec Threads::Threads PRIVATE elide_warnings)
target_compile_definitions(exec_test_util PRIVATE
  ELIDE_TEST_MONITOR="$<TARGET_FILE:elide-monitor>")

# test_exec_limits: the timeout, and real cgroups (root, cgroups v1 or v2)
# made by cgroup_fixture.c as Nomad's client makes them.
foreach(t test_exec test_exec_monitor test_exec_recover test_exec_stdin test_exec_limits)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE exec_test_util elide_exec elide_warnings)
  if(ELIDE_SANITIZE)
    target_compile_definitions(${t} PRIVATE ELIDE_TEST_ASAN=1)
  endif()
  add_dependencies(${t} elide-monitor)
  add_test(NAME ${t} COMMAND ${t})
  # The same tests on the path for kernels (and valgrind) without pidfds.
  add_test(NAME ${t}_nopidfd COMMAND ${t} --no-pidfd)
  set_tests_properties(${t} ${t}_nopidfd PROPERTIES TIMEOUT 60)
endforeach()

target_sources(test_exec_limits PRIVATE ${CMAKE_CURRENT_LIST_DIR}/cgroup_fixture.c)

# The cgroup library against trees of plain files (any host, any user;
# cgroup_fixture.c for reading them).
add_executable(test_cgroup ${CMAKE_CURRENT_LIST_DIR}/test_cgroup.c
  ${CMAKE_CURRENT_LIST_DIR}/cgroup_fixture.c)
target_link_libraries(test_cgroup PRIVATE exec_test_util elide_exec elide_warnings)
add_test(NAME test_cgroup COMMAND test_cgroup)
set_tests_properties(test_cgroup PROPERTIES TIMEOUT 60)

# elide-relay, the owner of a daemon-mode task's output FIFOs.
add_executable(test_relay ${CMAKE_CURRENT_LIST_DIR}/test_relay.c)
target_link_libraries(test_relay PRIVATE exec_test_util elide_exec elide_warnings)
target_compile_definitions(test_relay PRIVATE ELIDE_TEST_RELAY="$<TARGET_FILE:elide-relay>")
if(ELIDE_SANITIZE)
  target_compile_definitions(test_relay PRIVATE ELIDE_TEST_ASAN=1)
endif()
add_dependencies(test_relay elide-relay)
add_test(NAME test_relay COMMAND test_relay)
set_tests_properties(test_relay PROPERTIES TIMEOUT 60)

# Commands run in a task's context (ExecTask, ExecTaskStreaming): lookup,
# capture and timeout, user, cgroup, session, signals, descriptors, pty.
add_executable(test_exec_cmd ${CMAKE_CURRENT_LIST_DIR}/test_exec_cmd.c)
target_link_libraries(test_exec_cmd PRIVATE exec_test_util elide_exec elide_warnings)
add_test(NAME test_exec_cmd COMMAND test_exec_cmd)
set_tests_properties(test_exec_cmd PROPERTIES TIMEOUT 60)

# The exec session loop shared by both exec RPCs and the daemon
# (exec_stream.h): input queue and backlog, pipes, a pty, back-pressure, the
# client's end.
add_executable(test_exec_stream ${CMAKE_CURRENT_LIST_DIR}/test_exec_stream.c)
target_link_libraries(test_exec_stream PRIVATE elide_exec elide_warnings)
add_test(NAME test_exec_stream COMMAND test_exec_stream)
set_tests_properties(test_exec_stream PROPERTIES TIMEOUT 60)
