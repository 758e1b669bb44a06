"""Task models, their heads and layers, the backbones they share, the encoder
families keras-bam supports, and SavedModel export."""

from keras_bam.models.backbone_families import AlbertFamily
from keras_bam.models.backbone_families import BackboneFamily
from keras_bam.models.backbone_families import BertFamily
from keras_bam.models.backbone_families import DebertaV3Family
from keras_bam.models.backbone_families import DistilBertFamily
from keras_bam.models.backbone_families import ElectraFamily
from keras_bam.models.backbone_families import RobertaFamily
from keras_bam.models.backbone_families import XLMRobertaFamily
from keras_bam.models.backbone_families import get_backbone_family
from keras_bam.models.backbone_families import register_backbone_family
from keras_bam.models.backbones import as_task_backbone
from keras_bam.models.backbones import load_backbone
from keras_bam.models.backbones import load_tokenizer
from keras_bam.models.backbones import new_backbone_and_tokenizer
from keras_bam.models.backbones import pooled_output
from keras_bam.models.backbones import set_exact_gelu
from keras_bam.models.backbones import with_precision
from keras_bam.models.bam_bert_backbone import BamBertBackbone
from keras_bam.models.export import export_saved_model
from keras_bam.models.layers import BitGeneratorDropout
from keras_bam.models.layers import ClassTokenEncoder
from keras_bam.models.layers import TaskHead
from keras_bam.models.packed_encoder import batch_packing
from keras_bam.models.packed_encoder import packable
from keras_bam.models.task_models import MultiTaskModel
from keras_bam.models.task_models import SingleTaskModel
from keras_bam.models.validation import check_backbone

__all__ = [
    "AlbertFamily",
    "BackboneFamily",
    "BamBertBackbone",
    "BertFamily",
    "BitGeneratorDropout",
    "ClassTokenEncoder",
    "DebertaV3Family",
    "DistilBertFamily",
    "ElectraFamily",
    "MultiTaskModel",
    "RobertaFamily",
    "SingleTaskModel",
    "TaskHead",
    "XLMRobertaFamily",
    "as_task_backbone",
    "batch_packing",
    "check_backbone",
    "export_saved_model",
    "get_backbone_family",
    "load_backbone",
    "load_tokenizer",
    "new_backbone_and_tokenizer",
    "packable",
    "pooled_output",
    "register_backbone_family",
    "set_exact_gelu",
    "with_precision",
]
