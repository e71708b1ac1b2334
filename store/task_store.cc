#include "store/task_store.h"

namespace metad::store {}  // namespace metad::store
