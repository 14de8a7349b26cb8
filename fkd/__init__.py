"""fkd: a teachable, reproducible study of facial keypoint detection.

Modules, by job: ``data`` (Kaggle files), ``demo`` (synthetic faces), ``splits``,
``configs`` (models as data), ``augment``, ``models``, ``train``, ``evaluate``,
``results`` (records, cache, RMSE table), ``experiment`` (one run end to end),
``submission``, ``plots``, ``report`` (notebooks to HTML/PDF), ``cli``.
"""

__version__ = "0.1.0"
