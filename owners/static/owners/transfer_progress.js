'use strict';
// The job page's live progress: poll the job's JSON view and update the bar, the counts and the
// per-module table without reloading, until the job has finished. What moved per module costs
// the server more (a GROUP BY over the job's audit rows): asked every few polls, and once more
// at the end.
(function() {
    const root = document.getElementById('transfer-progress');
    if (!root) {
        return;
    }
    const url = root.dataset.progressUrl;
    const interval = Number(root.dataset.pollMs || 1000);
    const modulesEvery = Number(root.dataset.modulesEvery || 5);
    let polls = 0;
    const bar = root.querySelector('progress');
    const format = new Intl.NumberFormat('en-US');

    function setText(id, value) {
        const el = document.getElementById(id);
        if (el) {
            el.textContent = value;
        }
    }

    function render(data) {
        // An attribute, not only the property: what the page shows is in the DOM.
        bar.setAttribute('max', Math.max(data.total_count, 1));
        bar.setAttribute('value', data.done_count);
        setText('progress-status', data.status_label);
        setText('progress-percent', data.percent + ' %');
        for (const key of ['total_count', 'updated_count', 'skipped_count', 'failed_count',
                           'related_count', 'changed_count', 'not_updated_count']) {
            setText('count-' + key, format.format(data[key]));
        }
        setText('label-not_updated_count', data.not_updated_label);
        // A revert's skipped records by reason (null for the other jobs).
        for (const [reason, count] of Object.entries(data.skipped_reasons || {})) {
            setText('skip-' + reason, format.format(count));
        }
        const modules = document.querySelector('#progress-modules tbody');
        if (modules && data.modules) {
            modules.replaceChildren(...data.modules.map(function(row) {
                const tr = document.createElement('tr');
                for (const value of [row.label, format.format(row.count)]) {
                    const td = document.createElement('td');
                    td.textContent = value;
                    tr.appendChild(td);
                }
                return tr;
            }));
        }
        if (data.last_error) {
            setText('progress-error', data.last_error);
        }
        if (data.finished && data.modules) {
            root.classList.add('finished');
            document.querySelectorAll('.while-running').forEach(el => el.hidden = true);
            document.querySelectorAll('.when-finished').forEach(el => el.hidden = false);
        }
        return data.finished && data.modules;
    }

    function poll(withModules) {
        polls += 1;
        const query = withModules || polls % modulesEvery === 0 ? '?modules=1' : '';
        fetch(url + query, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
            .then(response => response.ok ? response.json() : Promise.reject(response.status))
            .then(data => {
                if (render(data)) {
                    return;
                }
                if (data.finished) {
                    poll(true);  // the final numbers per module, then stop
                } else {
                    window.setTimeout(poll, interval);
                }
            })
            .catch(() => window.setTimeout(poll, interval * 3));
    }

    if (root.dataset.finished !== 'true') {
        window.setTimeout(poll, interval);
    }
})();
