import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen
os.environ.setdefault("DIFFLAB_FAST", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
