"""A regression test of a search method in a few lines, with the dnas_regress pytest plugin
(installed with dnas-suite; fixtures ``dnas_search`` and ``dnas_regress``).

The first time, write the baseline and commit it:

    python -m pytest test_my_method_regression.py --dnas-save-baseline

From then on the test replays the searches (CPU, one thread per process: bit-identical) and fails
with the verdict table when the method's numbers changed ("changed": the first epoch and quantity
that moved) or its search got statistically worse ("worse": one-sided Mann-Whitney U over the 5
seeds, bootstrap interval, minimum effect). After an intended change, save the baseline again.
"""
from pathlib import Path

from reports.regress import Settings

BASELINE = Path(__file__).with_name("my-method-baseline.jsonl")
TINY = {"epochs": 2, "steps_per_epoch": 4, "batch_size": 32, "channels": 4, "depth": 1, "arch_start_epoch": 0,
        "arch_lr": 0.3}  # seconds per search on digits; a large arch_lr so that α moves in 8 steps


def test_my_method_did_not_regress(dnas_search, dnas_regress):
    runs = dnas_search("gdas", seeds=range(5), hparams=TINY)  # your method's registered name
    dnas_regress(runs, BASELINE, settings=Settings(metrics=("derived_weight", "cifar10@200/test-accuracy"),
                                                   time_threshold=None))
