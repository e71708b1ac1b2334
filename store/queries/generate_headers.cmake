# Turns every store/queries/<area>.sql into <area>.sql.h under OUT_DIR (the
# build tree's gen/store/queries/, included as "store/queries/<area>.sql.h"):
# one `inline constexpr Query` per statement, in namespace metad::store::sql.
# Run by the build (store/CMakeLists.txt); the headers are never committed.
#
# A .sql file is a series of statements, each introduced by its name:
#
#   -- name: file.get_by_id
#   -- Comment lines right after the name document the statement.
#   SELECT ... FROM files f WHERE f.id = $1;
#
# - The name is <area>.<what> in lower case ([a-z][a-z0-9_]*), unique across
#   all the files: it names the prepared statement on every connection.
# - The constant is k + the name in CamelCase, each part between '.' and '_'
#   capitalized: file.get_by_id -> kFileGetById, db.ping -> kDbPing.
# - The statement runs from its first line that is not a comment to the first
#   line that ends with ';' (which is not sent); that line ends it. Between
#   statements and before the first, only comments and blank lines.
# - Every file runs in psql as it is, but for the $n parameters.
#
# The build fails, naming the file and line, for: SQL outside a named
# statement (a statement without a name), a name that is malformed or used
# twice (or two names with the same constant), a name with no statement or a
# statement with no ';', and a statement containing the raw-string
# delimiter )sql".
#
# SRC_DIR: the .sql files; OUT_DIR: where the headers go; ROOT: the source
# tree, for the paths the headers mention.
cmake_minimum_required(VERSION 3.25)

file(GLOB sql_files RELATIVE ${SRC_DIR} ${SRC_DIR}/*.sql)
list(SORT sql_files)
file(RELATIVE_PATH src_rel ${ROOT} ${SRC_DIR})
file(RELATIVE_PATH generator ${ROOT} ${CMAKE_CURRENT_LIST_FILE})
file(MAKE_DIRECTORY ${OUT_DIR})

# All names and constants seen so far, with where: "name=file:line".
set(seen_names "")
set(seen_constants "")

# The constant for statement `name`: kFileGetById for file.get_by_id.
function(constant_for name out)
  string(REPLACE "." "_" parts "${name}")
  string(REPLACE "_" ";" parts "${parts}")
  set(ident "k")
  foreach(part IN LISTS parts)
    string(SUBSTRING "${part}" 0 1 first)
    string(SUBSTRING "${part}" 1 -1 rest)
    string(TOUPPER "${first}" first)
    string(APPEND ident "${first}${rest}")
  endforeach()
  set(${out} "${ident}" PARENT_SCOPE)
endfunction()

foreach(sql_file IN LISTS sql_files)
  set(where "${src_rel}/${sql_file}")
  file(READ ${SRC_DIR}/${sql_file} text)
  string(REPLACE "\r" "" text "${text}")
  # One list element per line. CMake lists split on ';' except after '\' or
  # inside [...], so those characters travel encoded.
  string(FIND "${text}" "@sqlgen" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${where}: contains \"@sqlgen\", which the generator reserves")
  endif()
  string(REPLACE "\\" "@sqlgen_bs@" text "${text}")
  string(REPLACE ";" "@sqlgen_sc@" text "${text}")
  string(REPLACE "[" "@sqlgen_lb@" text "${text}")
  string(REPLACE "]" "@sqlgen_rb@" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")

  # before: no statement yet or the last one ended; doc: after a name;
  # body: inside a statement.
  set(state "before")
  set(line_no 0)
  set(name "")
  set(body "")
  set(constants "")
  foreach(line IN LISTS lines)
    math(EXPR line_no "${line_no} + 1")
    string(REPLACE "@sqlgen_bs@" "\\" line "${line}")
    string(REPLACE "@sqlgen_sc@" ";" line "${line}")
    string(REPLACE "@sqlgen_lb@" "[" line "${line}")
    string(REPLACE "@sqlgen_rb@" "]" line "${line}")
    string(STRIP "${line}" stripped)

    if(stripped MATCHES "^-- name:")
      if(state STREQUAL "body")
        message(FATAL_ERROR "${where}:${line_no}: statement ${name} (line "
          "${name_line}) does not end with ';' before the next '-- name:'")
      endif()
      if(state STREQUAL "doc")
        message(FATAL_ERROR "${where}:${name_line}: ${name} names no statement")
      endif()
      if(NOT stripped MATCHES "^-- name: ([a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*)$")
        message(FATAL_ERROR "${where}:${line_no}: malformed name line "
          "\"${stripped}\": write '-- name: <area>.<what>' in lower case, "
          "e.g. '-- name: file.get_by_id'")
      endif()
      set(name "${CMAKE_MATCH_1}")
      set(name_line ${line_no})
      constant_for("${name}" constant)
      foreach(kind name constant)
        set(key "${${kind}}")
        foreach(entry IN LISTS seen_${kind}s)
          if(entry MATCHES "^([^=]*)=(.*)$" AND CMAKE_MATCH_1 STREQUAL key)
            message(FATAL_ERROR "${where}:${line_no}: duplicate statement "
              "${kind} ${key}: already used at ${CMAKE_MATCH_2}")
          endif()
        endforeach()
        list(APPEND seen_${kind}s "${key}=${where}:${line_no}")
      endforeach()
      set(state "doc")
      set(body "")
      continue()
    endif()

    if(state STREQUAL "before")
      if(stripped STREQUAL "" OR stripped MATCHES "^--")
        continue()
      endif()
      message(FATAL_ERROR "${where}:${line_no}: a statement without a name: "
        "start it with a '-- name: <area>.<what>' line")
    endif()
    if(state STREQUAL "doc")
      if(stripped STREQUAL "" OR stripped MATCHES "^--")
        continue()
      endif()
      set(state "body")
    endif()
    # In the statement: keep the line as it is, up to the final ';'.
    if(stripped MATCHES ";$")
      string(REGEX REPLACE ";[ \t]*$" "" line "${line}")
      string(APPEND body "${line}")
      string(FIND "${body}" ")sql\"" clash)
      if(NOT clash EQUAL -1)
        message(FATAL_ERROR "${where}:${name_line}: statement ${name} "
          "contains )sql\", the end of the raw string it is embedded in")
      endif()
      string(APPEND constants
        "\n// ${name} (${where}:${name_line})\n"
        "inline constexpr Query ${constant}{\"${name}\", R\"sql(\n${body}\n)sql\"};\n")
      set(state "before")
    else()
      string(APPEND body "${line}\n")
    endif()
  endforeach()
  if(state STREQUAL "body")
    message(FATAL_ERROR "${where}:${name_line}: statement ${name} does not "
      "end with ';'")
  endif()
  if(state STREQUAL "doc")
    message(FATAL_ERROR "${where}:${name_line}: ${name} names no statement")
  endif()

  string(REGEX REPLACE "\\.sql$" "" stem "${sql_file}")
  string(TOUPPER "METAD_STORE_QUERIES_${stem}_SQL_H_" guard)
  set(out ${OUT_DIR}/${sql_file}.h)
  file(WRITE ${out}.tmp
"// Generated from ${where} by ${generator}.
// Do not edit: change the .sql file.
#ifndef ${guard}
#define ${guard}

#include \"store/sql.h\"

namespace metad::store::sql {
${constants}
}  // namespace metad::store::sql

#endif  // ${guard}
")
  file(COPY_FILE ${out}.tmp ${out} ONLY_IF_DIFFERENT)
  file(REMOVE ${out}.tmp)
endforeach()

# The header of a .sql file that is gone goes too: an #include of it must
# fail rather than compile against old statements.
file(GLOB headers RELATIVE ${OUT_DIR} ${OUT_DIR}/*.sql.h)
foreach(header IN LISTS headers)
  string(REGEX REPLACE "\\.h$" "" source "${header}")
  if(NOT EXISTS ${SRC_DIR}/${source})
    file(REMOVE ${OUT_DIR}/${header})
  endif()
endforeach()
