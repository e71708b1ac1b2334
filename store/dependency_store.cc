#include "store/dependency_store.h"

namespace metad::store {}  // namespace metad::store
