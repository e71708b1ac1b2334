// metactl's entry point as a function (main calls it; tests call it with
// their own streams): finds the command, parses global and command flags,
// builds the client and runs the command.
//
// Exit codes: 0 on success; 1..16 the gRPC status code of a failed call
// (5 NOT_FOUND, 9 FAILED_PRECONDITION, 14 UNAVAILABLE, ...); 64 (EX_USAGE)
// for a bad command line, 65 (EX_DATAERR) for malformed stdin input, 66
// (EX_NOINPUT) for an unreadable token or certificate file. Usage errors do
// not use 2 because 2 is gRPC's UNKNOWN.
#ifndef METAD_CLIENTS_CPP_CLI_H_
#define METAD_CLIENTS_CPP_CLI_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace metad::metactl {

// `args` excludes the program name.
int RunMetactl(const std::vector<std::string>& args, std::istream& in,
               std::ostream& out, std::ostream& err);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_CLI_H_
