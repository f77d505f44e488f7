"""The data-parallel scaling chart (issue 14): images/s and efficiency against replicas."""

from __future__ import annotations

import pandas as pd
from matplotlib import rc_context

from results.figures import RC, Chart, add, figure, figure_legend, label_colors


def replica_charts(scaling: pd.DataFrame) -> list[Chart]:
    """Data-parallel scaling (results.scaling): per case group, one row of panels per
    depth: images/s against replicas (left) and scaling efficiency (right, 1 = linear), one
    line per framework/execution."""
    charts: list[Chart] = []
    if scaling.empty:
        return charts
    data = scaling.assign(label=scaling["framework"] + "/" + scaling["execution"])
    colors = label_colors(list(data["label"]))
    keys = ["device", "mode", "precision", "image_size", "threads", "batch_size"]
    with rc_context(RC):
        for key, grp in data.groupby(keys, sort=True, dropna=False):
            depths = sorted(grp["depth"].unique())
            fig = figure(7.0, 2.4 * len(depths) + 0.5)
            axes = fig.subplots(len(depths), 2, squeeze=False)
            for (left, right), depth in zip(axes, depths, strict=True):
                for label, line in grp[grp["depth"] == depth].groupby("label", sort=False):
                    line = line.sort_values("replicas")
                    style = {"marker": "o", "color": colors[str(label)], "label": str(label)}
                    left.plot(line["replicas"], line["images_per_s"], **style)
                    right.plot(line["replicas"], line["efficiency"], **style)
                replicas = sorted(grp["replicas"].unique())
                for ax in (left, right):
                    ax.set_xticks(replicas, [str(r) for r in replicas])
                    ax.set_xlabel("replicas")
                left.set_title(f"ResNet-{depth}: images/s (all replicas)")
                left.set_ylim(0, float(grp["images_per_s"].max()) * 1.15)
                right.set_title(f"ResNet-{depth}: efficiency")
                right.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
                right.set_ylim(0, max(1.1, float(grp["efficiency"].max()) * 1.1))
            figure_legend(fig, list(axes.flat))
            device, mode, precision, image_size, threads, batch = key
            title = (
                f"Scaling with replicas: {device} {mode} {precision} {image_size}px, batch "
                f"{batch} per replica, {threads} threads split across the replicas"
            )
            if add(charts, "replicas", title, fig):
                break
    return charts
