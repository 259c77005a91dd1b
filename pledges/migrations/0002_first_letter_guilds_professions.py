from django.db import migrations

LETTER_TITLE = "An open letter on AI and creative work"

LETTER_BODY = """We are actors, writers, directors, producers and executives; we are the crews who light, shoot, cut, score and build the work; we are YouTubers, podcasters, newsletter writers and technologists. Many of us belong to SAG-AFTRA, the WGA, the DGA, the PGA and IATSE. We make things for a living, and we are not against new tools. We are against tools built by taking our work without asking, and used to replace us without a plan.

Artificial intelligence is already trained on our performances, scripts, images, voices and videos, and already used to make work that competes with ours. The rules for how that happens are being written now, often without us. We ask lawmakers, studios, platforms and AI companies to commit to enforceable rules built on four priorities.

1. Transparency, consent and compensation for data and content. Creators must be able to know when their work is used to train or prompt an AI system, to say no, and to be paid when they say yes. Training data must be disclosed in a form that creators and courts can check.

2. Job protection and transition planning. Companies that bring AI into creative production must bargain over it with the people whose work it changes, protect the jobs and crafts that hold our industries together, and fund real transition plans, not press releases, where work does change.

3. Safeguards against misuse and deepfakes. No one's face, voice or likeness should be copied without consent, living or dead. Synthetic media must be labelled, platforms must act quickly on impersonation, and people harmed by deepfakes must have a remedy that works.

4. Preserving human authorship. Audiences deserve to know what a person made. Credit, copyright and awards must keep a human author at their centre, and AI-generated material must not be passed off as human work.

These are not abstract principles. They are the terms on which creative work can keep being a livelihood. We invite everyone who makes creative work to add their name."""

PROFESSIONS = [
    ("actor", "Actor / performer"),
    ("writer", "Writer"),
    ("director", "Director"),
    ("producer", "Producer"),
    ("executive", "Executive"),
    ("crew", "Below-the-line crew"),
    ("online-video-creator", "Online video creator"),
    ("podcaster", "Podcaster"),
    ("newsletter-writer", "Newsletter writer / journalist"),
    ("musician", "Musician"),
    ("visual-artist", "Visual artist"),
    ("technologist", "Technologist"),
    ("other", "Other"),
]

GUILDS = [
    ("sag-aftra", "SAG-AFTRA"),
    ("wga", "WGA"),
    ("dga", "DGA"),
    ("pga", "PGA"),
    ("iatse", "IATSE"),
    ("other", "Other"),
]


def create(apps, schema_editor):
    apps.get_model("pledges", "LetterVersion").objects.create(title=LETTER_TITLE, body=LETTER_BODY)
    Profession = apps.get_model("pledges", "Profession")
    for position, (slug, name) in enumerate(PROFESSIONS):
        Profession.objects.create(slug=slug, name=name, position=position * 10)
    Guild = apps.get_model("pledges", "Guild")
    for position, (slug, name) in enumerate(GUILDS):
        Guild.objects.create(slug=slug, name=name, position=1000 if slug == "other" else position * 10)


def remove(apps, schema_editor):
    apps.get_model("pledges", "LetterVersion").objects.filter(title=LETTER_TITLE).delete()
    apps.get_model("pledges", "Profession").objects.filter(slug__in=[s for s, _ in PROFESSIONS]).delete()
    apps.get_model("pledges", "Guild").objects.filter(slug__in=[s for s, _ in GUILDS]).delete()


class Migration(migrations.Migration):
    dependencies = [("pledges", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
