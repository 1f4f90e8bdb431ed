"""The external stage (paper section 3.2): an inpainting backbone, trained on a large dataset, that
completes the hole's monochrome (the monochromic bottleneck) or, as the baseline, its RGB.

* :mod:`eiip.external.module`: :class:`~eiip.external.module.ExternalInpainter`, the LightningModule
  (stages, optimizers, the mono or RGB head);
* :mod:`eiip.external.backbones`: GatedConv (DeepFill v2), EdgeConnect, HiFill, GMCNN and their
  discriminators, layer for layer as the releases;
* :mod:`eiip.external.losses` and :mod:`eiip.external.loss_terms`: the losses and the named terms
  that make a backbone's objective a config dict; :mod:`eiip.external.edges`: Canny edges (EdgeConnect);
* :mod:`eiip.external.training` and :mod:`eiip.external.callbacks`: what ``train.py`` builds.

The ImageNet feature stacks (:mod:`eiip.pretrained`) stay outside: the metrics (LPIPS) share them.
"""
