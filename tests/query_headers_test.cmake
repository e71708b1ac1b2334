# store/queries/generate_headers.cmake on small inputs: the header it writes,
# and the build failures it promises, each with its message.
#   cmake -DGENERATOR=... -DWORK_DIR=... -P tests/query_headers_test.cmake
cmake_minimum_required(VERSION 3.25)

set(failures 0)
file(REMOVE_RECURSE ${WORK_DIR})

# Writes one input file of a case. (Texts travel as named arguments: a list
# such as ARGN would split them at every ';'.)
function(put case file text)
  file(WRITE ${WORK_DIR}/${case}/src/${file} "${text}")
endfunction()

# Runs the generator on the files put for `case`; sets `rc` and `output` in
# the caller.
function(generate case)
  set(dir ${WORK_DIR}/${case})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -DSRC_DIR=${dir}/src -DOUT_DIR=${dir}/out
            -DROOT=${dir} -P ${GENERATOR}
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  # CMake wraps long messages.
  string(REGEX REPLACE "[ \n]+" " " out "${out}")
  set(rc ${result} PARENT_SCOPE)
  set(output "${out}" PARENT_SCOPE)
endfunction()

function(expect_failure case message)
  generate(${case})
  string(FIND "${output}" "${message}" at)
  if(rc EQUAL 0 OR at EQUAL -1)
    message("FAIL ${case}: wanted a failure saying \"${message}\", got "
      "rc=${rc}:\n${output}")
    math(EXPR n "${failures} + 1")
    set(failures ${n} PARENT_SCOPE)
  else()
    message("ok   ${case}")
  endif()
endfunction()

# A good file: the constant's name, its text without the ';', brackets and a
# ';' in a string kept.
put(good a.sql
  "-- The file's header.\n\n-- name: area.get_by_id\n-- Its comment.\nSELECT ('{\"x;y\"}'::text[])[1]\n  FROM t WHERE id = $1;\n\n-- name: area.ping\nSELECT 1;\n")
generate(good)
file(READ ${WORK_DIR}/good/out/a.sql.h header)
set(want_get "inline constexpr Query kAreaGetById{\"area.get_by_id\", R\"sql(\nSELECT ('{\"x;y\"}'::text[])[1]\n  FROM t WHERE id = $1\n)sql\"};")
set(want_ping "inline constexpr Query kAreaPing{\"area.ping\", R\"sql(\nSELECT 1\n)sql\"};")
set(want_namespace "namespace metad::store::sql {")
foreach(want want_get want_ping want_namespace)
  string(FIND "${header}" "${${want}}" at)
  if(NOT rc EQUAL 0 OR at EQUAL -1)
    message("FAIL good: rc=${rc}, the header lacks ${want}:\n${${want}}\n"
      "--- header:\n${header}${output}")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()
if(failures EQUAL 0)
  message("ok   good")
endif()

# The header of a removed .sql file is removed with it.
put(gone a.sql "-- name: x.one\nSELECT 1;\n")
put(gone b.sql "-- name: x.two\nSELECT 2;\n")
generate(gone)
file(REMOVE ${WORK_DIR}/gone/src/a.sql)
generate(gone)
if(NOT rc EQUAL 0 OR EXISTS ${WORK_DIR}/gone/out/a.sql.h OR
   NOT EXISTS ${WORK_DIR}/gone/out/b.sql.h)
  message("FAIL gone: rc=${rc}, a.sql.h should be gone and b.sql.h there")
  math(EXPR failures "${failures} + 1")
else()
  message("ok   gone")
endif()

put(duplicate_name a.sql "-- name: x.same\nSELECT 1;\n\n-- name: x.same\nSELECT 2;\n")
expect_failure(duplicate_name "a.sql:4: duplicate statement name x.same: already used at src/a.sql:1")
put(duplicate_across_files a.sql "-- name: x.same\nSELECT 1;\n")
put(duplicate_across_files b.sql "-- name: x.same\nSELECT 2;\n")
expect_failure(duplicate_across_files "duplicate statement name x.same")
put(duplicate_constant a.sql "-- name: x.y_z\nSELECT 1;\n\n-- name: x_y.z\nSELECT 2;\n")
expect_failure(duplicate_constant "duplicate statement constant kXYZ")
put(unnamed_first a.sql "-- header\nSELECT 1;\n")
expect_failure(unnamed_first "a.sql:2: a statement without a name")
put(unnamed_after a.sql "-- name: x.one\nSELECT 1;\n\nSELECT 2;\n")
expect_failure(unnamed_after "a.sql:4: a statement without a name")
put(delimiter_clash a.sql "-- name: x.clash\nSELECT ')sql\"';\n")
expect_failure(delimiter_clash "statement x.clash contains )sql\"")
put(no_semicolon a.sql "-- name: x.open\nSELECT 1\n")
expect_failure(no_semicolon "statement x.open does not end with ';'")
put(no_semicolon_before_next a.sql "-- name: x.open\nSELECT 1\n-- name: x.next\nSELECT 2;\n")
expect_failure(no_semicolon_before_next "statement x.open (line 1) does not end with ';' before the next")
put(no_statement a.sql "-- name: x.empty\n-- only a comment\n")
expect_failure(no_statement "x.empty names no statement")
put(malformed_name a.sql "-- name: GetFile\nSELECT 1;\n")
expect_failure(malformed_name "malformed name line")

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} failed")
endif()
message("all passed")
