import sys
from pathlib import Path

# The fault tests reuse the data fixtures and micro models of the main suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
