"""Published parameter totals of ResNet-V2 (Keras ResNet50V2/101V2/152V2, TF-slim), 1000
classes: depth -> (trainable, total with the BN moving statistics)."""

PUBLISHED = {
    50: (25_568_360, 25_613_800),
    101: (44_577_896, 44_675_560),
    152: (60_236_904, 60_380_648),
}
