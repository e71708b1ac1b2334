#include "store/run_store.h"

namespace metad::store {}  // namespace metad::store
