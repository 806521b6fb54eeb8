"""Where the real test clips live: shared/data/videos beside the repository (CI clones the repository there)."""
from pathlib import Path

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
BIKES = str(VIDEOS / "bikes.mp4")
