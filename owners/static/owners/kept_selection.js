'use strict';
// After a refused action the changelist comes back with the ids the operator had ticked (in
// #kept-selection): tick them again, through the same change event Django's actions.js counts.
document.addEventListener('DOMContentLoaded', function() {
    const data = document.getElementById('kept-selection');
    if (!data) {
        return;
    }
    const kept = new Set(JSON.parse(data.textContent).map(String));
    document.querySelectorAll('#result_list input.action-select').forEach(function(box) {
        if (kept.has(box.value) && !box.checked) {
            box.checked = true;
            box.dispatchEvent(new Event('change', {bubbles: true}));
        }
    });
});
