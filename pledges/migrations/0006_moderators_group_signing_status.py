from django.contrib.auth.management import create_permissions
from django.db import migrations

# Just what moderation needs: see and act on signatures, keep the watchlist, read the audit log.
# Editing the letter and pausing signing stay with administrators.
MODERATOR_PERMISSIONS = [
    "view_signature",
    "moderate_signature",
    "export_signature",
    "view_queuedsignature",
    "view_moderationevent",
    "view_watchedname",
    "add_watchedname",
    "change_watchedname",
    "delete_watchedname",
    "view_guild",
    "view_profession",
    "view_letterversion",
]


def create_group_and_status(apps, schema_editor):
    # Permissions are normally made after all migrations; this group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Moderators")
    permissions = Permission.objects.filter(content_type__app_label="pledges", codename__in=MODERATOR_PERMISSIONS)
    assert permissions.count() == len(MODERATOR_PERMISSIONS), "a moderator permission is missing"
    group.permissions.set(permissions)
    apps.get_model("pledges", "SigningStatus").objects.get_or_create(pk=1)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Moderators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pledges", "0005_moderation_watchlist_public_list"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group_and_status, remove_group)]
