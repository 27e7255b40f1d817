# Writes a C header holding a file's bytes, for embedding (cmake -P):
#   cmake -DINPUT=<file> -DOUTPUT=<header> -DNAME=<array name> -P embed_file.cmake
# The header defines `static const unsigned char NAME[]` (no terminating NUL:
# its size is the file's). Run from add_custom_command, so that an edit of the
# file regenerates it.
foreach(var INPUT OUTPUT NAME)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()
file(READ "${INPUT}" hex HEX)
if(hex STREQUAL "")
  message(FATAL_ERROR "embed_file.cmake: ${INPUT} is empty")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 16 line) # CMake regexes have no {n}
string(REGEX REPLACE "(${line})" "\\1\n  " bytes "${bytes}")
get_filename_component(source "${INPUT}" NAME)
file(WRITE "${OUTPUT}"
  "/* Generated at build time from ${source} by embed_file.cmake: do not edit. */\n"
  "static const unsigned char ${NAME}[] = {\n  ${bytes}\n};\n")
