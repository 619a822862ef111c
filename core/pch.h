// Precompiled header for gantry_core and the targets that reuse it.
#pragma once
#include <torch/torch.h>
