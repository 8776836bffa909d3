"""The training engine: protocols (published recipes), LR schedules, augmentation, torchrun
helpers, the device data of a training run and the epoch loop.

Evaluation runs (``suite.runs.evaluate``) train through it, and so does any search method that
needs a piece of it (the cosine schedule, cutout). It knows nothing of runs, methods or benchmarks.
"""
