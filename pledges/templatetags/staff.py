from django import template

from pledges.admin.dashboard import dashboard_figures

register = template.Library()


@register.inclusion_tag("admin/pledges/_dashboard.html", takes_context=True)
def moderation_dashboard(context):
    user = context["request"].user
    if not user.has_perm("pledges.view_signature"):
        return {"figures": []}
    return {"figures": dashboard_figures()}
