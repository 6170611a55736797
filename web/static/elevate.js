// Elevate's only script, an enhancement (the pages work without it):
// - every <time datetime="…"> shows in the viewer's own time zone, UTC in the tooltip;
// - <time data-countdown> also says how long is left;
// - a `datetime-local` field with data-utc holds the viewer's wall-clock time: its zone is
//   named beside it ([data-zone]) and the form also sends the instant in UTC (the named field);
// - pages that show a live status (data-live on <body>) refresh every 15 s while nobody is
//   typing into a form on them.
const local = (at) => at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const left = (ms) => {
  if (ms <= 0) return 'ended';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return `${h ? `${h} h ` : ''}${h || m ? `${m} min ` : ''}${h ? '' : `${r} s `}left`;
};

const times = document.querySelectorAll('time[datetime]');
const render = () => times.forEach((el) => {
  const at = new Date(el.getAttribute('datetime'));
  if (Number.isNaN(at.getTime())) return;
  el.title = `${el.getAttribute('datetime')} (UTC)`;
  el.textContent = el.hasAttribute('data-countdown') ? `${local(at)} (${left(at - Date.now())})` : local(at);
});
render();
if (document.querySelector('time[data-countdown]')) setInterval(render, 1000);

if (document.body.hasAttribute('data-live')) {
  setInterval(() => {
    const busy = [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
      .some((f) => f === document.activeElement || (f.tagName !== 'SELECT' && f.value !== ''));
    if (!busy) window.location.reload();
  }, 15000);
}

document.querySelectorAll('input[data-utc]').forEach((field) => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  field.form.querySelectorAll('[data-zone]').forEach((el) => { el.textContent = `your time, ${zone}`; });
  field.form.addEventListener('submit', () => {
    const at = new Date(field.value);
    field.form.elements[field.dataset.utc].value = field.value && !Number.isNaN(at.getTime()) ? at.toISOString() : '';
  });
});
