"""Modality extraction: captions, depth, segmentation and Canny edges of an image.

Each modality lives in its own module (``captions``, ``depth``, ``segmentation``, ``edges``);
``extractor`` holds the config that chooses and versions them. Import the modules directly: this
package imports nothing, so ``import pipelines.modalities.edges`` never loads torch.
"""
