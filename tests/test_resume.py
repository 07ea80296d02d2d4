"""The one check every resumable stage makes before it continues a saved run."""

from dataclasses import dataclass

from saliency.resume import changed_settings


@dataclass
class Config:
    images: str
    lr: float = 1e-3
    norm: str = "spectral"
    steps: int = 100

    RESUMABLE_CHANGES = ("steps",)


def test_reports_changed_fields_and_ignores_resumable_ones():
    saved = {"images": "a", "lr": 1e-3, "norm": "spectral", "steps": 50}
    assert changed_settings(saved, Config("a", steps=400)) == []
    assert changed_settings(saved, Config("b", lr=1e-2)) == ["images: 'a' -> 'b'", "lr: 0.001 -> 0.01"]


def test_a_field_added_after_the_run_counts_as_its_default():
    saved = {"images": "a", "lr": 1e-3, "steps": 50}  # written before `norm` existed
    assert changed_settings(saved, Config("a")) == []
    assert changed_settings(saved, Config("a", norm="batch")) == ["norm: 'spectral' -> 'batch'"]
    assert changed_settings({"lr": 1e-3}, Config("a")) == ["images: (not saved) -> 'a'"]


def test_a_field_whose_default_changed_counts_as_its_former_default():
    @dataclass
    class Changed(Config):
        norm: str = "batch"
        FORMER_DEFAULTS = {"norm": "spectral"}

    saved = {"images": "a", "lr": 1e-3, "steps": 50}  # written when `norm` did not exist and meant spectral
    assert changed_settings(saved, Changed("a")) == ["norm: 'spectral' -> 'batch'"]
    assert changed_settings(saved, Changed("a", norm="spectral")) == []
