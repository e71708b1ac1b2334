# Writes a C++ source holding every DIR/*.sql file as a function FUNC
# returning them sorted by name, so the daemon carries its schema with it:
# migrations/NNNN_name.{up,down}.sql and migrations/functions/*.sql. Run by
# the build (see store/CMakeLists.txt); the numbering is checked again at run
# time.
# PATTERN: which files of DIR (migrations/ also holds schema.sql, generated).
if(NOT PATTERN)
  set(PATTERN "*.sql")
endif()
file(GLOB files RELATIVE ${DIR} ${DIR}/${PATTERN})
list(SORT files)
set(body "")
foreach(f ${files})
  file(READ ${DIR}/${f} sql)
  string(FIND "${sql}" ")metad_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter")
  endif()
  string(APPEND body "    {\"${f}\", R\"metad_sql(${sql})metad_sql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp
"// Generated from ${DIR}/*.sql by migrations/embed.cmake. Do not edit.
#include \"store/embedded_migrations.h\"

namespace metad::store {

const std::vector<EmbeddedFile>& ${FUNC}() {
  static const auto* files = new std::vector<EmbeddedFile>{
${body}  };
  return *files;
}

}  // namespace metad::store
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
