"""One task of the TF gradient-averaging test: `python -m tests.tf_grad_task` with TF_CONFIG
set (a MultiWorkerMirroredStrategy worker on its half of the batch), or with `single` (one
process, the whole batch). Prints the weights after one SGD step as JSON."""

from __future__ import annotations

import json
import os
import sys

BATCH, FEATURES, CLASSES, LR = 8, 5, 3, 0.5


def main(single: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from runners.tf_runner import import_tensorflow

    tf = import_tensorflow()  # as the workers do: no JAX, no pandas
    import keras
    import numpy as np

    from runners.tf_multiworker import make_strategy, replica_loss
    from vocab.case import Case

    tf.config.threading.set_intra_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, BATCH).astype("int32")
    if single:
        strategy, task, workers = tf.distribute.get_strategy(), 0, 1
    else:
        strategy = make_strategy(
            tf, Case("tensorflow", 50, BATCH // 2, mode="training", replicas=2)
        )
        task, workers = int(strategy.cluster_resolver.task_id), 2
    with strategy.scope():
        init = keras.initializers.GlorotUniform(seed=1)
        model = keras.Sequential(
            [keras.Input((FEATURES,)), keras.layers.Dense(CLASSES, kernel_initializer=init)]
        )
        opt = keras.optimizers.SGD(LR)
        opt.build(model.trainable_variables)
    half = BATCH // workers
    xs, ys = tf.constant(x[task * half :][:half]), tf.constant(y[task * half :][:half])

    def replica_step() -> None:
        with tf.GradientTape() as tape:
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(ys, model(xs))
            loss = replica_loss(tf, per_example, BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    tf.function(lambda: strategy.run(replica_step))()
    print(json.dumps([v.numpy().tolist() for v in model.trainable_variables]))


if __name__ == "__main__":
    main(sys.argv[1:] == ["single"])
