# Unit tests of the wasm backend module against the mock host, on the node
# and wazero engines (wazero installed by install-wazero.sh), running WASI
# fixtures compiled from tests/fixtures/wasm/*.c at build time by clang for
# wasm32-wasi against Debian's wasi-libc.
find_program(ELIDE_WASI_CLANG NAMES clang clang-19 clang-16 clang-14)
set(ELIDE_WASI_SYSROOT "" CACHE PATH
  "WASI sysroot for the wasm fixtures (empty: clang's default, which finds Debian's wasi-libc)")
set(wasi_hint
  "install clang, lld, wasi-libc and libclang-rt-dev-wasm32 (tests/install-deps.sh does)")
if(NOT ELIDE_WASI_CLANG)
  message(FATAL_ERROR "clang not found; the wasm test fixtures need it: ${wasi_hint}")
endif()
set(wasi_flags --target=wasm32-wasi -O2 -Wall -Wextra -Werror -Wl,--strip-all)
if(ELIDE_WASI_SYSROOT)
  list(APPEND wasi_flags --sysroot=${ELIDE_WASI_SYSROOT})
endif()

# Fail the configure, not the build, when clang cannot target WASI.
set(wasi_probe "${CMAKE_BINARY_DIR}/CMakeFiles/wasi-probe")
file(WRITE "${wasi_probe}/probe.c"
  "#include <stdio.h>\nint main(void) { return puts(\"ok\") < 0; }\n")
execute_process(COMMAND ${ELIDE_WASI_CLANG} ${wasi_flags} -o "${wasi_probe}/probe.wasm"
                        "${wasi_probe}/probe.c"
  RESULT_VARIABLE wasi_probe_rc OUTPUT_VARIABLE wasi_probe_out ERROR_VARIABLE wasi_probe_out)
if(NOT wasi_probe_rc EQUAL 0)
  message(FATAL_ERROR "${ELIDE_WASI_CLANG} cannot build for wasm32-wasi (${wasi_hint}):\n"
                      "${wasi_probe_out}")
endif()

set(ELIDE_WASM_FIXTURE_DIR "${CMAKE_BINARY_DIR}/tests/fixtures/wasm")
set(wasm_fixtures)
foreach(fixture hello exit7 writefile)
  set(src "${CMAKE_CURRENT_SOURCE_DIR}/fixtures/wasm/${fixture}.c")
  set(out "${ELIDE_WASM_FIXTURE_DIR}/${fixture}.wasm")
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${ELIDE_WASM_FIXTURE_DIR}"
    COMMAND ${ELIDE_WASI_CLANG} ${wasi_flags} -o "${out}" "${src}"
    DEPENDS "${src}"
    COMMENT "Compiling WASI fixture ${fixture}.wasm")
  list(APPEND wasm_fixtures "${out}")
endforeach()
add_custom_target(wasm_fixtures ALL DEPENDS ${wasm_fixtures})

add_executable(test_wasm_backend ${CMAKE_CURRENT_LIST_DIR}/test_wasm_backend.c
  ${CMAKE_CURRENT_LIST_DIR}/mock_host.c)
target_link_libraries(test_wasm_backend PRIVATE elide_abi ${CMAKE_DL_LIBS} elide_warnings)
target_compile_definitions(test_wasm_backend PRIVATE
  ELIDE_TEST_WASM_MODULE="$<TARGET_FILE:wasm>"
  ELIDE_TEST_WASM_FIXTURES="${ELIDE_WASM_FIXTURE_DIR}"
  ELIDE_TEST_INSTALL_WAZERO="${CMAKE_CURRENT_LIST_DIR}/install-wazero.sh")
add_dependencies(test_wasm_backend wasm wasm_fixtures)
add_test(NAME test_wasm_backend COMMAND test_wasm_backend)
# The first run installs wazero through the Go module proxy.
set_tests_properties(test_wasm_backend PROPERTIES TIMEOUT 600)
