# Writes a C++ source holding every migrations/NNNN_name.{up,down}.sql file,
# so the daemon carries its schema with it. Run by the build (see
# CMakeLists.txt); the numbering is checked again at run time.
file(GLOB files RELATIVE ${DIR} ${DIR}/*.sql)
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
"// Generated from migrations/*.sql by migrations/embed.cmake. Do not edit.
#include \"store/embedded_migrations.h\"

namespace metad::store {

const std::vector<EmbeddedFile>& EmbeddedMigrationFiles() {
  static const auto* files = new std::vector<EmbeddedFile>{
${body}  };
  return *files;
}

}  // namespace metad::store
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
