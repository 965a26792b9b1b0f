"""parse_label_config on real Label Studio configs, hostile XML and the structural rules."""

from pathlib import Path

import pytest

from chalicelib.errors import LabelConfigError, ValidationError
from chalicelib.labeling import MAX_CONFIG_CHARS, parse_label_config

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "labelstudio"


def read(rel: str) -> str:
    return (FIX / rel).read_text(encoding="utf-8")


def rejected(xml: str) -> LabelConfigError:
    with pytest.raises(LabelConfigError) as info:
        parse_label_config(xml)
    assert info.value.field == "label_config"
    assert isinstance(info.value, ValidationError)
    return info.value


# --------------------------------------------------------------------------- real configs


def test_sentiment_analysis_config():
    cfg = parse_label_config(read("frontend_examples/sentiment_analysis/config.xml"))
    assert cfg.variables() == {"reviewText"}
    assert [(o.name, o.type, o.value_key) for o in cfg.objects] == [("my_text", "Text", "reviewText")]
    (c,) = cfg.controls
    assert (c.name, c.type, c.to_name, c.choice) == ("sentiment", "Choices", ["my_text"], "single")
    assert c.labels == ["Positive", "Negative", "Neutral"]
    assert c.attrs["showInLine"] == "true"  # attributes kept exactly as written


def test_named_entity_config():
    cfg = parse_label_config(read("frontend_examples/named_entity/config.xml"))
    (c,) = cfg.controls
    assert c.type == "Labels" and c.to_name == ["text"]
    assert len(c.labels) == 11 and c.labels[0] == "Person" and c.labels[-1] == "Location"
    assert cfg.variables() == {"text"}


def test_taxonomy_config_gives_every_root_to_leaf_path():
    cfg = parse_label_config(read("frontend_examples/taxonomy/config.xml"))
    tax = cfg.control("tax")
    assert tax.type == "Taxonomy"
    assert tax.taxonomy == [["One"], ["Two"], ["Three", "Sub"], ["Three", "With"], ["Three", "Tuna"]]
    assert tax.labels == ["One", "Two", "Three", "Sub", "With", "Tuna"]
    assert [c.name for c in cfg.controls_of_type("choices")] == ["sentiment", "ch"]
    assert cfg.control("sentiment").choice == "single"  # default when no choice attribute


def test_table_configs_including_lowercase_valuetype_attribute():
    table = parse_label_config(read("frontend_examples/table/config.xml"))
    assert [(o.name, o.type, o.value_key, o.value_type) for o in table.objects] == [("menu", "Table", "menu", None)]
    assert table.control("sub").labels == ["Tuna", "Vegetables", "Chicken", "Spicy"]
    csv = parse_label_config(read("frontend_examples/table_csv/config.xml"))
    # written `valuetype=` (lower case) in the real file
    assert csv.object("csv-table").value_type == "csv|url|separator=,"
    assert csv.variables() == {"text"}


def test_template_with_nested_view_and_trailing_comment():
    cfg = parse_label_config(read("label_studio_templates/text-classification.xml"))
    assert cfg.control("sentiment").to_name == ["text"]
    assert cfg.variables() == {"text"}


def test_complicated_config_tag_case_and_choice_modes():
    cfg = parse_label_config(read("frontend_examples/nested_choices/config-complicated.xml"))
    assert cfg.control("description").type == "TextArea"  # written <Textarea>
    assert cfg.control("ner").choice == "multiple"
    assert [c.name for c in cfg.controls_of_type("Choices")] == ["sentiment", "gender", "currency", "sentiment2"]
    assert cfg.objects_of("gender")[0].name == "my_text"


def test_pairwise_to_name_list_and_aliases():
    pw = parse_label_config(read("frontend_examples/pairwise/config.xml"))
    assert pw.control("pw").to_name == ["txt-1", "txt-2"]
    assert pw.variables() == {"text1", "text2"}
    req = parse_label_config(read("frontend_examples/required/config.xml"))
    assert req.control("validation-label").aliases == {"missing-words": "Missing words", "valid": "Valid"}


def test_other_real_configs_parse():
    assert len(parse_label_config(read("converter/completions_2020/config.xml")).control("ner").labels) == 19
    bbox = parse_label_config(read("frontend_examples/image_bbox/config.xml"))
    assert bbox.control("tag").type == "RectangleLabels" and bbox.object("img").type == "Image"
    assert parse_label_config(read("frontend_examples/rich_text_plain/config.xml")).variables() == {"ner"}


def test_real_config_with_literal_text_value_is_rejected():
    err = rejected(read("frontend_examples/classification_mixed/config.xml"))
    assert "'text'" in err.message and "literal value" in err.message and "$" in err.message


def test_real_config_with_textarea_without_toname_is_rejected():
    err = rejected(read("frontend_examples/dialogue_analysis/config.xml"))
    assert "'answer'" in err.message and "toName" in err.message


def test_real_template_without_control_is_rejected():
    assert "no control tag" in rejected(read("label_studio_templates/tabular-data.xml")).message


# --------------------------------------------------------------------------- hostile XML


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<View><Text name="t" value="$t"/><Header value="&lol3;"/>
<Choices name="c" toName="t"><Choice value="a"/></Choices></View>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE View [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<View><Text name="t" value="$t"/><Header value="&xxe;"/>
<Choices name="c" toName="t"><Choice value="a"/></Choices></View>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, '<!DOCTYPE View><View/>'],
                         ids=["billion-laughs", "external-entity", "bare-doctype"])
def test_dtds_and_entities_are_refused(xml):
    assert "DTD" in rejected(xml).message


def test_undeclared_entity_is_a_parse_error():
    assert "not well-formed" in rejected('<View><Header value="&foo;"/></View>').message


def minimal(inner: str = "", choices: str = '<Choice value="a"/>') -> str:
    return f'<View><Text name="t" value="$t"/>{inner}<Choices name="c" toName="t">{choices}</Choices></View>'


def test_size_limit_boundary():
    base = minimal()
    at_limit = base + " " * (MAX_CONFIG_CHARS - len(base))
    assert len(at_limit) == MAX_CONFIG_CHARS
    parse_label_config(at_limit)
    err = rejected(at_limit + " ")
    assert "size limit" in err.message and str(MAX_CONFIG_CHARS) in err.message


def nested(levels: int) -> str:
    # root View (depth 1) + `levels` Views + Choices + Choice: deepest element at levels + 3
    return "<View>" + "<View>" * levels + minimal()[len("<View>"):-len("</View>")] + "</View>" * levels + "</View>"


def test_depth_limit_boundary():
    parse_label_config(nested(47))  # Choice at depth 50
    err = rejected(nested(48))  # Choice at depth 51
    assert "depth" in err.message and "50" in err.message


def test_element_count_limit_boundary():
    def many(k):  # View + Text + Choices + k Choice = k + 3 elements
        return minimal(choices="".join(f'<Choice value="c{i}"/>' for i in range(k)))

    assert len(parse_label_config(many(1997)).control("c").labels) == 1997
    err = rejected(many(1998))
    assert "2000 elements" in err.message


# --------------------------------------------------------------------------- structural rules


def test_missing_toname():
    err = rejected('<View><Text name="t" value="$t"/><Choices name="c"><Choice value="a"/></Choices></View>')
    assert "'c'" in err.message and "toName" in err.message


def test_missing_control_name():
    err = rejected('<View><Text name="t" value="$t"/><Choices toName="t"><Choice value="a"/></Choices></View>')
    assert "<Choices>" in err.message and "'name'" in err.message


def test_unknown_toname_names_the_target_and_the_known_objects():
    err = rejected('<View><Text name="t" value="$t"/><Choices name="c" toName="t,tx"><Choice value="a"/></Choices></View>')
    assert "'tx'" in err.message and "['t']" in err.message


def test_duplicate_names():
    err = rejected('<View><Text name="c" value="$t"/><Choices name="c" toName="c"><Choice value="a"/></Choices></View>')
    assert "duplicate tag name 'c'" in err.message


def test_duplicate_and_missing_choices():
    assert "duplicate choice 'a'" in rejected(minimal(choices='<Choice value="a"/><Choice value="a"/>')).message
    assert "no <Choice>" in rejected(minimal(choices="")).message
    assert "has no value" in rejected(minimal(choices="<Choice/>")).message


def test_labels_need_a_label():
    err = rejected('<View><Text name="t" value="$t"/><Labels name="l" toName="t"></Labels></View>')
    assert "'l'" in err.message and "<Label>" in err.message


def test_taxonomy_duplicate_siblings_rejected_but_same_value_under_other_parent_ok():
    ok = parse_label_config(
        '<View><Text name="t" value="$t"/><Taxonomy name="x" toName="t">'
        '<Choice value="A"><Choice value="Other"/></Choice><Choice value="B"><Choice value="Other"/></Choice>'
        "</Taxonomy></View>"
    )
    assert ok.control("x").taxonomy == [["A", "Other"], ["B", "Other"]]
    err = rejected('<View><Text name="t" value="$t"/><Taxonomy name="x" toName="t">'
                   '<Choice value="A"/><Choice value="A"/></Taxonomy></View>')
    assert "duplicate choice 'A'" in err.message


def test_root_must_be_view_and_xml_must_be_well_formed():
    assert "root must be <View>" in rejected('<Text name="t" value="$t"/>').message
    assert "not well-formed" in rejected("<View><Text></View>").message
    assert "empty" in rejected("  ").message
    assert "string" in rejected(b"<View/>").message  # type: ignore[arg-type]


def test_no_control_tag():
    assert "no control tag" in rejected('<View><Text name="t" value="$t"/></View>').message


def test_tag_names_match_in_any_case():
    cfg = parse_label_config('<view><TEXT name="t" value="$t"/><choices name="c" toname="t"><choice value="a"/></choices></view>')
    assert cfg.objects[0].type == "Text" and cfg.controls[0].type == "Choices"
    assert cfg.controls[0].labels == ["a"]


def test_choice_modes():
    def mode(value):
        return parse_label_config(minimal().replace('toName="t"', f'toName="t" choice="{value}"')).control("c").choice

    assert mode("single-radio") == "single"
    assert mode("multiple") == "multiple"
    assert "choice='many'" in rejected(minimal().replace('toName="t"', 'toName="t" choice="many"')).message


def test_rating_and_number_attributes():
    cfg = parse_label_config('<View><Text name="t" value="$t"/><Rating name="r" toName="t"/>'
                             '<Number name="n" toName="t" min="1" max="10"/></View>')
    assert cfg.control("r").attr("maxRating", 5) == 5 and cfg.control("n").attr("max") == "10"
    assert "maxRating='lots'" in rejected('<View><Text name="t" value="$t"/><Rating name="r" toName="t" maxRating="lots"/></View>').message
    assert "greater than max" in rejected('<View><Text name="t" value="$t"/><Number name="n" toName="t" min="5" max="1"/></View>').message


def test_layout_tags_and_instruction_text_are_not_data_objects():
    cfg = parse_label_config(
        '<View><Header value="Title"/><Text name="help" value="Read the review first"/>'
        '<Style>.x{}</Style><Text name="t" value="$review"/>'
        '<Relations><Relation value="rel"/></Relations>'
        '<Choices name="c" toName="t"><View><Header value="group"/><Choice value="a"/></View></Choices></View>'
    )
    assert [o.name for o in cfg.objects] == ["t"] and cfg.variables() == {"review"}
    assert [c.name for c in cfg.controls] == ["c"]  # nameless <Relations> is not a control
    assert cfg.control("c").labels == ["a"]  # choices inside a layout View still count


def test_dynamic_choices_and_image_value_list():
    cfg = parse_label_config('<View><Image name="i" valueList="$images"/><Choices name="c" toName="i" value="$options"/></View>')
    assert cfg.control("c").dynamic and cfg.control("c").labels == []
    assert cfg.object("i").value_key == "images" and cfg.object("i").value_type == "list"


def test_helpers_return_none_for_unknown_names():
    cfg = parse_label_config(minimal())
    assert cfg.control("nope") is None and cfg.object("nope") is None
    assert cfg.controls_of_type("Labels") == []


def test_deeply_nested_hostile_document_is_refused_without_recursion_errors():
    levels = (MAX_CONFIG_CHARS - 20) // 7  # ~14k nested elements within the size limit
    xml = "<View>" + "<a>" * levels + "</a>" * levels + "</View>"
    assert "depth" in rejected(xml).message


def test_package_imports_no_heavy_libraries():
    import subprocess
    import sys

    code = ("import sys, chalicelib.labeling; "
            "bad = [m for m in ('numpy', 'sklearn', 'scipy', 'boto3') if m in sys.modules]; "
            "assert not bad, bad")
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
