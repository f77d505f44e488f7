"""The ResNet-V2 architecture as data (TF-slim resnet_v2, He et al. 2016).

Adding a depth is one line in DEPTHS.
"""

from __future__ import annotations

# depth -> units per block; block widths are 64, 128, 256, 512 (bottleneck out = 4x).
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
