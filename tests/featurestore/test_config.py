from __future__ import annotations

import pytest

from featurestore.config import FeatureStoreConfig
from orchestration.config_loading import ConfigError, parse_config


def test_defaults_are_valid_and_name_the_tables() -> None:
    config = FeatureStoreConfig()
    assert (config.catalog_type, config.samples_identifier, config.errors_identifier) == (
        "sql", "mmsr.samples", "mmsr.errors"
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"catalog_type": "hive"}, "catalog_type"),
        ({"catalog_uri": "catalog.db"}, "catalog_uri"),
        ({"catalog_uri": "sqlite:///:memory:"}, "catalog_uri"),
        ({"catalog_type": "rest", "catalog_uri": "sqlite:///c.db"}, "catalog_uri"),
        ({"warehouse": " "}, "warehouse"),
        ({"catalog_name": "my catalog"}, "catalog_name"),
        ({"namespace": "a.b"}, "namespace"),
        ({"samples_table": ""}, "samples_table"),
        ({"errors_table": "samples"}, "errors_table"),
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FeatureStoreConfig(**overrides)  # type: ignore[arg-type]


def test_rest_catalog_with_bucket_warehouse() -> None:
    config = FeatureStoreConfig(catalog_type="rest", catalog_uri="https://iceberg.example", warehouse="gs://b/wh")
    assert config.warehouse == "gs://b/wh"


def test_loads_from_yaml_mapping() -> None:
    config = parse_config(FeatureStoreConfig, {"warehouse": "gs://bucket/wh", "namespace": "prod"})
    assert (config.warehouse, config.samples_identifier) == ("gs://bucket/wh", "prod.samples")
    with pytest.raises(ConfigError, match="catalog_type"):
        parse_config(FeatureStoreConfig, {"catalog_type": "glue"})
