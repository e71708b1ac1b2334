#include "store/file_store.h"

namespace metad::store {}  // namespace metad::store
