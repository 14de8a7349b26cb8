"""fkd: a teachable, reproducible study of facial keypoint detection.

Modules, by job: ``keypoints`` (the 15 keypoints and the one pixel convention),
``data`` (Kaggle files), ``cache`` (parsed files), ``sources`` (where the data come
from), ``demo`` (synthetic faces), ``splits``, ``configs`` (models as data),
``augment``, ``models``, ``train``, ``evaluate``, ``experiment`` (one run end to
end), ``results`` (records, cache, RMSE table), ``original`` (the study's own
figures), ``submission``, ``photo`` (keypoints on a photo), ``plots``, ``display``
(banners and tables), ``notebook`` (what notebooks call), ``exercises`` and ``classroom`` (exercises,
students' and instructors' copies), ``orderings`` (the study's story as claims),
``benchmark`` (the benchmark's format), ``parameters``, ``lock``, ``console``,
``report`` (notebooks to HTML/PDF), ``publish`` (the report kept in the repository), ``optimizers`` (the
study's Keras 2 RMSprop), ``machine`` (the CPU a time was measured on), ``atomic`` and ``errors`` (shared rules),
``download``, ``cli``.
"""

__version__ = "0.1.0"
