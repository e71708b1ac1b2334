// To be written: see the core issue.
#ifndef METAD_STORE_RUN_STORE_H_
#define METAD_STORE_RUN_STORE_H_

#include "store/database.h"

namespace metad::store {}  // namespace metad::store

#endif  // METAD_STORE_RUN_STORE_H_
