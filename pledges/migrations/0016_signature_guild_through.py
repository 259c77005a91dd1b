import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Names the table Django made for Signature.guilds as a model (SignatureGuild), so that it can
    carry an index of its own. The database does not change."""

    dependencies = [
        ("pledges", "0015_submissions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SignatureGuild",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "guild",
                            models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="pledges.guild"),
                        ),
                        (
                            "signature",
                            models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="pledges.signature"),
                        ),
                    ],
                    options={
                        "db_table": "pledges_signature_guilds",
                        "unique_together": {("signature", "guild")},
                    },
                ),
                migrations.AlterField(
                    model_name="signature",
                    name="guilds",
                    field=models.ManyToManyField(
                        blank=True, related_name="signatures", through="pledges.SignatureGuild", to="pledges.guild"
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
