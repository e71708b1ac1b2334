# Writes a C++ source defining `const char metad::daemon::<SYMBOL>[]` with
# the contents of IN, so the daemon carries its status page with it. Run by
# the build (see CMakeLists.txt), like migrations/embed.cmake.
#   cmake -DIN=file -DOUT=file.cc -DSYMBOL=kName -DHEADER=daemon/x.h -P embed_text.cmake
file(READ ${IN} text)
string(FIND "${text}" ")metad_text\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter")
endif()
# GCC accepts long raw strings, but keep each piece well under the 64 KiB
# that some compilers allow per literal: adjacent literals are joined.
string(LENGTH "${text}" length)
set(body "")
set(offset 0)
while(offset LESS length)
  string(SUBSTRING "${text}" ${offset} 16000 piece)
  string(APPEND body "    R\"metad_text(${piece})metad_text\"\n")
  math(EXPR offset "${offset} + 16000")
endwhile()
file(WRITE ${OUT}.tmp
"// Generated from ${IN} by daemon/http/embed_text.cmake. Do not edit.
#include \"${HEADER}\"

namespace metad::daemon {

const char ${SYMBOL}[] =
${body};

}  // namespace metad::daemon
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
