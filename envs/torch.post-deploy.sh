#!/usr/bin/env bash
# Run by `snakemake --sdm conda` in the new torch environment: the published frost textures.
# Without its requirements (as requirements/no-deps.txt): they would add the non-headless OpenCV.
set -euo pipefail
python -m pip install --no-deps imagecorruptions==1.1.2
