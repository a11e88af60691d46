// See gloo/context.h: declarations only, for c10d/ProcessGroupGloo.hpp.
#pragma once
#include "gloo/context.h"
